"""Wire schemas of Istio APIs that xds-protos does not ship, built at run time from
descriptors (protobuf only, nothing else of ours): shared by the server that sends them and
the client that reads them, so neither layer imports the other. Import the submodule you
need (``lateen.protos.nds``); this package imports nothing."""
