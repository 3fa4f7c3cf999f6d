"""Frozen feature extractors trained on real people, used beside the trainable encoders.

The synthetic data teaches the model the task; these networks, trained by others on millions of
real faces and thousands of real speakers, carry what a cartoon or an eSpeak voice cannot: what a
real face and a real voice look and sound like. Both ship inside pip packages and run offline:
- `face`: dlib's HOG detector, 68-point landmarks and 128-d ResNet face descriptor
  (`dlib-bin` + `face-recognition-models`); the descriptor's network is read from dlib's model file
  and run by torch (`face_descriptor`: the same numbers, 9x faster than dlib's BLAS-less build);
- `speaker`: a GE2E speaker encoder (the weights of the `Resemblyzer` wheel, Apache-2.0,
  converted to safetensors and committed under `weights/`, in our own copy of its small LSTM).
"""
