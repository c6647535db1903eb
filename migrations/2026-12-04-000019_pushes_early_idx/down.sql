DROP INDEX pushes_early_idx;
