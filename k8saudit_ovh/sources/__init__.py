"""Where audit events come from: the live LDP tail (its reader and frames), open params, and the
stored history of a stream (gap-fill, checkpoints, history: replays)."""
