"""HTTP pages the service serves to people (not platform callbacks): server-rendered, no scripts."""
