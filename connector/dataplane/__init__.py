"""The data plane: bytes moving peer to peer under an agreement, kept apart from the control plane.

Its interface is narrow on purpose (a data address in, a stream of chunks out; a digest and a seal beside it),
so that it can later run as a process of its own.
"""
