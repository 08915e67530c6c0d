"""Speaking the field's formats: import peers' results (importers/), export standard reports
(exporters/), the metric dictionary that maps our metrics to theirs (dictionary.py), and the
cross-check that runs a peer against the same server (crosscheck.py). docs/peers.md."""
