"""Training of descriptor networks by identical-view, CCL(+IV) or geometric correspondences."""
