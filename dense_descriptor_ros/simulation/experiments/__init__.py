"""What is run in the simulated cell: the simulated operator's reference annotation, closed-loop
pick trials and the dataset generators (with ground-truth correspondences)."""
