"""One module per tab of the page; each lays out its components and binds their events."""
