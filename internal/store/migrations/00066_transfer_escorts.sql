-- +goose Up
-- Transfers as a hand-over (issue 17): a transfer out names the police units
-- that escort it or whose regions it crosses, who are told of it.
ALTER TABLE custody_events ADD COLUMN escort_codes text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE custody_events DROP COLUMN escort_codes;
