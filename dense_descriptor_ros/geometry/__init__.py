"""Camera and image-plane geometry shared by augmentation, training, evaluation and grasping."""
