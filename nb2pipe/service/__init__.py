"""`nb2pipe serve`: the verified serving path of a generated project over HTTP."""
