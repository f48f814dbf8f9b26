"""The block layer: the node graph over the blockdevs, qcow2 image headers, dirty bitmaps, and jobs."""
