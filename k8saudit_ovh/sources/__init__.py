"""Where audit events come from besides the live LDP tail: the stored history of a stream."""
