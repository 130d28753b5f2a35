"""What a run writes: storage, the layout of DEST, brief and manifest documents, digests."""
