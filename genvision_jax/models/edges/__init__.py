"""Edge detectors: HED (a learned VGG16 edge network, `hed`) and the classical Canny detector (`canny`)."""
