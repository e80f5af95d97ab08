"""The protocol listener: what peers reach over mutual TLS (DSP, DID documents, credential service)."""
