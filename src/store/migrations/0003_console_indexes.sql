-- 0003: indexes for the console's aggregates and change polling. The
-- journal's latest entry per case comes from the index alone; records
-- changed since a mark are found without scanning the task and part
-- tables (their per-case lookups already use UNIQUE (case_id, ...)).

CREATE INDEX journal_case_created ON journal(case_id, created_at);
CREATE INDEX onsite_tasks_updated ON onsite_tasks(updated_at);
CREATE INDEX part_orders_updated ON part_orders(updated_at);
