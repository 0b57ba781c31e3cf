-- +goose Up
-- Transfers as a hand-over (issue 17): the receiving facility lists the
-- people transferred out to it and not yet received.
CREATE INDEX custody_events_transfer_out_to ON custody_events (counterpart_facility_code, id) WHERE type = 'TRANSFER_OUT';

-- +goose Down
DROP INDEX custody_events_transfer_out_to;
