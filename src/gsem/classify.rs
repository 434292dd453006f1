//! What a reply to `POST redfish/v1/message` means: the table of spec §4 as
//! one pure function, so every row of it can be tested without a network.

use std::time::Duration;

use crate::sis::{Ack, AckStatus, TransactionName};

/// GSEM's code for "unknown agent": a configuration problem, not a refusal
/// of this message.
pub const CODE_UNKNOWN_AGENT: i64 = 1005;
/// GSEM's code for "not valid in this state".
pub const CODE_NOT_VALID_IN_STATE: i64 = 1003;

/// Longest part of an HTTP error body kept as a parked message's detail;
/// a gateway's HTML error page says all it has to say well before this.
const BODY_DETAIL_LIMIT: usize = 4096;

/// Why no HTTP answer came back. Every kind is transient (§4, last row); the
/// kinds are kept apart so health can say which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportFailure {
    Timeout,
    Connect(String),
    Tls(String),
    Other(String),
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Timeout => write!(f, "no answer within the request timeout"),
            Self::Connect(why) => write!(f, "cannot connect: {why}"),
            Self::Tls(why) => write!(f, "TLS failure: {why}"),
            Self::Other(why) => write!(f, "transport error: {why}"),
        }
    }
}

/// What came back for one POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<'a> {
    Http {
        status: u16,
        /// The body read as an acknowledgement, `None` when it does not parse.
        ack: Option<&'a Ack>,
        /// The raw body, used as the detail of 4xx refusals.
        body: &'a str,
        retry_after: Option<Duration>,
    },
    Transport(TransportFailure),
}

/// The message that was sent, as far as classification cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent<'a> {
    pub transaction: TransactionName,
    /// Whether this message was attempted before (its reply may be lost).
    pub resend: bool,
    /// The URL posted to, named in configuration problems.
    pub url: &'a str,
    /// The configured destination agent, named when GSEM does not know it.
    pub remote_agent: &'a str,
}

/// What the drainer does with the head of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// GSEM took it: mark it sent and move on.
    Acked { current_state: Option<i64> },
    /// An earlier attempt got through and its reply was lost: mark it sent,
    /// recorded as inferred.
    Inferred { current_state: Option<i64> },
    /// Refused for good: park it with the detail shown to the operator.
    Park {
        code: Option<i64>,
        detail: String,
        current_state: Option<i64>,
    },
    /// Configuration or credentials are wrong, not this message: keep it at
    /// the head, back off, and show the problem loudly.
    Config {
        problem: String,
        retry_after: Option<Duration>,
    },
    /// Try the same message again after a backoff.
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// Applies spec §4's table to one reply.
pub fn classify(sent: &Sent<'_>, reply: &Reply<'_>) -> Outcome {
    match reply {
        Reply::Transport(failure) => Outcome::Transient {
            reason: failure.to_string(),
            retry_after: None,
        },
        Reply::Http {
            status,
            ack,
            body,
            retry_after,
        } => classify_http(sent, *status, *ack, body, *retry_after),
    }
}

fn classify_http(
    sent: &Sent<'_>,
    status: u16,
    ack: Option<&Ack>,
    body: &str,
    retry_after: Option<Duration>,
) -> Outcome {
    match status {
        200..=299 => match ack {
            Some(ack) => classify_ack(sent, ack, retry_after),
            None => Outcome::Transient {
                reason: format!(
                    "GSEM answered {status} with a body that is not an acknowledgement"
                ),
                retry_after,
            },
        },
        401 | 403 => Outcome::Config {
            problem: "GSEM refuses our credentials".to_string(),
            retry_after,
        },
        300..=399 | 404 | 405 => Outcome::Config {
            problem: format!(
                "GSEM answers {status} at {}: check the base URL and paths",
                sent.url
            ),
            retry_after,
        },
        408 | 429 | 500..=599 => Outcome::Transient {
            reason: format!("GSEM answered HTTP {status}"),
            retry_after,
        },
        400..=499 => Outcome::Park {
            code: None,
            detail: format!("HTTP {status}: {}", truncate(body, BODY_DETAIL_LIMIT)),
            current_state: ack.and_then(Ack::current_state),
        },
        _ => Outcome::Transient {
            reason: format!("GSEM answered HTTP {status}"),
            retry_after,
        },
    }
}

fn classify_ack(sent: &Sent<'_>, ack: &Ack, retry_after: Option<Duration>) -> Outcome {
    let current_state = ack.current_state();
    let (code, detail) = match &ack.status {
        AckStatus::Ok => return Outcome::Acked { current_state },
        AckStatus::Unknown(status) => {
            return Outcome::Transient {
                reason: format!(
                    "GSEM's acknowledgement has the unknown transactionStatus {status:?}"
                ),
                retry_after,
            };
        }
        AckStatus::Error { code, detail } => (*code, detail.as_deref()),
    };
    if code == Some(CODE_UNKNOWN_AGENT) {
        return Outcome::Config {
            problem: format!(
                "GSEM does not know agent {}: check the remote agent name",
                sent.remote_agent
            ),
            retry_after,
        };
    }
    if sent.resend && effect_in_place(&sent.transaction, code, detail, current_state) {
        return Outcome::Inferred { current_state };
    }
    let detail = match detail {
        Some(detail) if !detail.trim().is_empty() => detail.to_string(),
        _ => match code {
            Some(code) => format!("GSEM refused the message with code {code} and no detail"),
            None => "GSEM refused the message without a code or detail".to_string(),
        },
    };
    Outcome::Park {
        code,
        detail,
        current_state,
    }
}

/// The two refusals of a resend that prove the first attempt got through.
fn effect_in_place(
    transaction: &TransactionName,
    code: Option<i64>,
    detail: Option<&str>,
    current_state: Option<i64>,
) -> bool {
    if code != Some(CODE_NOT_VALID_IN_STATE) {
        return false;
    }
    match transaction {
        TransactionName::ServiceRequest => {
            detail.is_some_and(|d| d.to_ascii_lowercase().contains("duplicate requesterid"))
        }
        TransactionName::ConfirmClose | TransactionName::RequestClosure => current_state == Some(7),
        _ => false,
    }
}

fn truncate(text: &str, limit: usize) -> &str {
    if text.len() <= limit {
        return text;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://gsem.test/redfish/v1/message";

    fn sent(transaction: &str, resend: bool) -> Sent<'static> {
        Sent {
            transaction: TransactionName::parse(transaction),
            resend,
            url: URL,
            remote_agent: "SFDC_Train_REST_P042",
        }
    }

    /// An acknowledgement as GSEM writes it (samples 10 and 11).
    fn ack(status: &str, code: Option<i64>, detail: Option<&str>, state: Option<i64>) -> Ack {
        let mut control = serde_json::json!({"ECPVersion": "1.0", "transactionStatus": status});
        if let Some(code) = code {
            control["transactionStatusCode"] = code.to_string().into();
        }
        if let Some(detail) = detail {
            control["transactionStatusDetail"] = detail.into();
        }
        let mut incident = serde_json::json!({"RequesterID": "INC0097539"});
        if let Some(state) = state {
            incident["CurrentState"] = state.into();
        }
        let body = serde_json::json!({"Message": {"TransactionName": "SERVICE REQUEST",
            "eCPControl": control, "SERVICE_INCIDENT": incident}});
        crate::sis::parse_ack(body.to_string().as_bytes()).unwrap()
    }

    fn http<'a>(status: u16, ack: Option<&'a Ack>, body: &'a str) -> Reply<'a> {
        Reply::Http {
            status,
            ack,
            body,
            retry_after: None,
        }
    }

    #[test]
    fn ok_is_acknowledged_with_its_state() {
        let a = ack("OK", Some(0), None, Some(3));
        assert_eq!(
            classify(&sent("SERVICE REQUEST", false), &http(200, Some(&a), "")),
            Outcome::Acked {
                current_state: Some(3)
            }
        );
        let lower = ack("ok", None, None, None);
        assert_eq!(
            classify(&sent("QUERY INCIDENT", true), &http(202, Some(&lower), "")),
            Outcome::Acked {
                current_state: None
            }
        );
    }

    #[test]
    fn error_codes_park_with_the_verbatim_detail() {
        for code in [1001, 1002, 1003, 1004, 1099, 2000] {
            let a = ack(
                "ERROR",
                Some(code),
                Some("missing mandatory field: AGREEMENT.ContractID"),
                None,
            );
            assert_eq!(
                classify(&sent("SERVICE REQUEST", false), &http(200, Some(&a), "")),
                Outcome::Park {
                    code: Some(code),
                    detail: "missing mandatory field: AGREEMENT.ContractID".to_string(),
                    current_state: None,
                },
                "code {code}"
            );
        }
    }

    #[test]
    fn error_without_detail_says_so() {
        let a = ack("ERROR", Some(1001), None, Some(5));
        assert_eq!(
            classify(
                &sent("PROVIDE PROBLEM INFORMATION", false),
                &http(200, Some(&a), "")
            ),
            Outcome::Park {
                code: Some(1001),
                detail: "GSEM refused the message with code 1001 and no detail".to_string(),
                current_state: Some(5),
            }
        );
        let bare = ack("ERROR", None, Some("  "), None);
        assert_eq!(
            bare.status,
            AckStatus::Error {
                code: None,
                detail: Some("  ".into())
            }
        );
        assert_eq!(
            classify(
                &sent("PROVIDE PROBLEM INFORMATION", false),
                &http(200, Some(&bare), "")
            ),
            Outcome::Park {
                code: None,
                detail: "GSEM refused the message without a code or detail".to_string(),
                current_state: None,
            }
        );
    }

    #[test]
    fn unknown_agent_is_a_configuration_problem() {
        let a = ack("ERROR", Some(1005), Some("unknown agent"), None);
        for resend in [false, true] {
            assert_eq!(
                classify(&sent("SERVICE REQUEST", resend), &http(200, Some(&a), "")),
                Outcome::Config {
                    problem:
                        "GSEM does not know agent SFDC_Train_REST_P042: check the remote agent name"
                            .to_string(),
                    retry_after: None,
                }
            );
        }
    }

    #[test]
    fn duplicate_requester_id_on_a_resend_is_inferred() {
        let a = ack(
            "ERROR",
            Some(1003),
            Some("duplicate RequesterID INC0097539"),
            None,
        );
        assert_eq!(
            classify(&sent("SERVICE REQUEST", true), &http(200, Some(&a), "")),
            Outcome::Inferred {
                current_state: None
            }
        );
        // The first attempt cannot have got through before: a real refusal.
        assert!(matches!(
            classify(&sent("SERVICE REQUEST", false), &http(200, Some(&a), "")),
            Outcome::Park {
                code: Some(1003),
                ..
            }
        ));
        // Another 1003 on a resend of a SERVICE REQUEST is a real refusal.
        let other = ack("ERROR", Some(1003), Some("not valid in state 7"), None);
        assert!(matches!(
            classify(&sent("SERVICE REQUEST", true), &http(200, Some(&other), "")),
            Outcome::Park {
                code: Some(1003),
                ..
            }
        ));
        // The duplicate wording under another code is not the §4 case.
        let wrong_code = ack("ERROR", Some(1002), Some("duplicate RequesterID"), None);
        assert!(matches!(
            classify(
                &sent("SERVICE REQUEST", true),
                &http(200, Some(&wrong_code), "")
            ),
            Outcome::Park {
                code: Some(1002),
                ..
            }
        ));
    }

    #[test]
    fn closing_resend_answered_with_state_7_is_inferred() {
        let closed = ack(
            "ERROR",
            Some(1003),
            Some("not valid in this state"),
            Some(7),
        );
        for transaction in ["CONFIRM CLOSE", "REQUEST CLOSURE"] {
            assert_eq!(
                classify(&sent(transaction, true), &http(200, Some(&closed), "")),
                Outcome::Inferred {
                    current_state: Some(7)
                }
            );
            assert!(matches!(
                classify(&sent(transaction, false), &http(200, Some(&closed), "")),
                Outcome::Park { .. }
            ));
            let open = ack(
                "ERROR",
                Some(1003),
                Some("not valid in this state"),
                Some(5),
            );
            assert!(matches!(
                classify(&sent(transaction, true), &http(200, Some(&open), "")),
                Outcome::Park {
                    current_state: Some(5),
                    ..
                }
            ));
        }
        // A note refused with state 7 on a resend did not take effect.
        assert!(matches!(
            classify(
                &sent("PROVIDE PROBLEM INFORMATION", true),
                &http(200, Some(&closed), "")
            ),
            Outcome::Park { .. }
        ));
        assert!(matches!(
            classify(
                &sent("REJECT RESOLUTION", true),
                &http(200, Some(&closed), "")
            ),
            Outcome::Park { .. }
        ));
    }

    #[test]
    fn credentials_and_paths_are_configuration_problems() {
        for status in [401, 403] {
            assert_eq!(
                classify(
                    &sent("SERVICE REQUEST", false),
                    &http(status, None, "denied")
                ),
                Outcome::Config {
                    problem: "GSEM refuses our credentials".to_string(),
                    retry_after: None
                }
            );
        }
        for status in [301, 302, 307, 308, 404, 405] {
            assert_eq!(
                classify(&sent("SERVICE REQUEST", false), &http(status, None, "")),
                Outcome::Config {
                    problem: format!(
                        "GSEM answers {status} at {URL}: check the base URL and paths"
                    ),
                    retry_after: None
                }
            );
        }
    }

    #[test]
    fn other_4xx_park_with_status_and_body() {
        for status in [400, 409, 410, 413, 415, 422, 451] {
            assert_eq!(
                classify(
                    &sent("PROVIDE PROBLEM INFORMATION", true),
                    &http(status, None, "bad body")
                ),
                Outcome::Park {
                    code: None,
                    detail: format!("HTTP {status}: bad body"),
                    current_state: None,
                }
            );
        }
    }

    #[test]
    fn long_bodies_are_cut_on_a_char_boundary() {
        let body = "é".repeat(BODY_DETAIL_LIMIT);
        let Outcome::Park { detail, .. } =
            classify(&sent("QUERY INCIDENT", false), &http(400, None, &body))
        else {
            panic!("400 must park");
        };
        assert_eq!(detail.len(), "HTTP 400: ".len() + BODY_DETAIL_LIMIT);
        assert!(detail.ends_with('é'));
    }

    #[test]
    fn server_trouble_is_transient_and_keeps_retry_after() {
        for status in [408, 429, 500, 502, 503, 504, 599] {
            let reply = Reply::Http {
                status,
                ack: None,
                body: "",
                retry_after: Some(Duration::from_secs(7)),
            };
            assert_eq!(
                classify(&sent("SERVICE REQUEST", false), &reply),
                Outcome::Transient {
                    reason: format!("GSEM answered HTTP {status}"),
                    retry_after: Some(Duration::from_secs(7)),
                }
            );
        }
    }

    #[test]
    fn unparseable_or_unknown_status_2xx_is_transient() {
        assert_eq!(
            classify(&sent("SERVICE REQUEST", false), &http(200, None, "<html>")),
            Outcome::Transient {
                reason: "GSEM answered 200 with a body that is not an acknowledgement".to_string(),
                retry_after: None,
            }
        );
        let odd = ack("PENDING", Some(0), None, None);
        assert_eq!(
            classify(&sent("SERVICE REQUEST", false), &http(200, Some(&odd), "")),
            Outcome::Transient {
                reason: "GSEM's acknowledgement has the unknown transactionStatus \"PENDING\""
                    .to_string(),
                retry_after: None,
            }
        );
    }

    #[test]
    fn transport_failures_are_transient() {
        let cases = [
            (
                TransportFailure::Timeout,
                "no answer within the request timeout",
            ),
            (
                TransportFailure::Connect("connection refused".into()),
                "cannot connect: connection refused",
            ),
            (
                TransportFailure::Tls("unknown issuer".into()),
                "TLS failure: unknown issuer",
            ),
            (
                TransportFailure::Other("connection reset".into()),
                "transport error: connection reset",
            ),
        ];
        for (failure, reason) in cases {
            assert_eq!(
                classify(&sent("SERVICE REQUEST", true), &Reply::Transport(failure)),
                Outcome::Transient {
                    reason: reason.to_string(),
                    retry_after: None
                }
            );
        }
    }

    #[test]
    fn informational_statuses_are_transient() {
        assert!(matches!(
            classify(&sent("SERVICE REQUEST", false), &http(101, None, "")),
            Outcome::Transient { .. }
        ));
    }
}
