"""Read models for support staff and the internal API: the message log, timelines, lineage, the stored
entities, the outbox's dead letters and what-if rating. SQL lives here, not in the HTTP layers."""
