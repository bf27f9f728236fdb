"""The ``hpcpolicy`` command line: parse arguments, call the engine or service, format the answer."""
