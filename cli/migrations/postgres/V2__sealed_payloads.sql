-- Payloads sealed before they leave the process (`journal::postgres::seal`): the bytes and the
-- id of the key that sealed them. `payload` (plain text) is read only for rows staged before;
-- `preventor journal-key reseal` seals those.
ALTER TABLE preventor_records ADD COLUMN IF NOT EXISTS sealed BYTEA;
ALTER TABLE preventor_records ADD COLUMN IF NOT EXISTS key_id TEXT;
