-- +goose Up
-- Search by passport for foreign nationals, and names in the old Indonesian
-- spellings (issue 17). search_names now also holds, after the names, the
-- modern spelling of each name written in the old letters (internal/names:
-- oe -> u, dj -> j, tj -> c, sj -> sy, nj -> ny, and then the old j -> y),
-- so that "Joesoef" finds "Yusuf" and the other way round. The function
-- below is internal/names.Modern in SQL, for the records already there; a
-- store test holds the two to the same answers.
-- +goose StatementBegin
CREATE FUNCTION sinergi_modern_spelling(name text) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(string_agg(CASE WHEN w ~ '(oe|dj|tj|sj|nj)' THEN
            replace(replace(replace(replace(replace(replace(replace(w, 'dj', chr(1)), 'tj', 'c'), 'sj', 'sy'), 'nj', 'ny'), 'oe', 'u'), 'j', 'y'), chr(1), 'j')
        ELSE w END, ' ' ORDER BY i), '')
    FROM regexp_split_to_table(btrim(name), '\s+') WITH ORDINALITY AS t(w, i) WHERE w <> ''
$$;
-- +goose StatementEnd

UPDATE custody_records r SET search_names = r.search_names || x.extra
FROM (SELECT c.id, string_agg(' | ' || sinergi_modern_spelling(u.p), '' ORDER BY u.i) AS extra
      FROM custody_records c, unnest(string_to_array(c.search_names, ' | ')) WITH ORDINALITY AS u(p, i)
      WHERE c.search_names ~ '(oe|dj|tj|sj|nj)' AND sinergi_modern_spelling(u.p) <> u.p
      GROUP BY c.id) x
WHERE r.id = x.id;

-- Passport numbers as compared: upper case, without spaces.
CREATE INDEX custody_records_passport ON custody_records (upper(replace(passport_number, ' ', ''))) WHERE passport_number <> '';

-- +goose Down
DROP INDEX custody_records_passport;
DROP FUNCTION sinergi_modern_spelling(text);
