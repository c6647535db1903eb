-- A release's push counts are all its pushes (counted in the primary key's
-- index alone, without reading a row) less those applied early, which this
-- index holds and nothing else: a release writes only `applied` pushes, so
-- its inserts add nothing here. Counting a release of 100,000 read each of
-- its rows for the outcome: 0.1 s on SQLite, paid by every view of it and
-- twice by a rollout's last wave.
CREATE INDEX pushes_early_idx ON pushes (release_id) WHERE outcome = 'applied_early';
