-- 0004: reads the console makes on every look, without reading whole rows.
--
-- The case view counts a case's updates the rules did not understand, and
-- opens on the newest page of a long timeline, so the count must not read
-- every entry of the case. The kind is `store::NOT_UNDERSTOOD_KIND`; the
-- query that uses this index names the same literal.
--
-- Each look at the store compares every case's `updated_at` with the last
-- one seen: from this covering index that is 10,000 short index entries
-- rather than 10,000 whole rows with their titles and descriptions.

CREATE INDEX journal_not_understood ON journal(case_id)
    WHERE kind = 'update_not_understood';
CREATE INDEX cases_updated ON cases(updated_at, id);
