"""Pre- and post-processing around the models (numpy and OpenCV only): letterbox, NMS, detector
decoding, plate crops, CTC decoding, plate formats."""
