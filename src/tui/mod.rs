//! The terminal console: a ratatui app over the [`crate::console`]
//! interface. State changes only in [`App::update`]; drawing
//! ([`render`]) is a pure function of the state; the engine is reached only
//! through the link, by [`run`].

mod app;
mod case_view;
pub mod clock;
pub mod dialogs;
pub mod editor;
mod health;
pub mod keymap;
pub mod list;
mod parked;
mod runner;
pub mod sanitize;
mod text;
pub mod theme;
mod view;

pub use app::{Action, App, Screen, Settings, StatusLine};
pub use case_view::{CaseView, Pane};
pub use parked::{ParkedView, Tab};
pub use runner::{TuiError, run};
pub use sanitize::sanitize_for_display;
pub use view::render;

#[cfg(test)]
mod tests;
