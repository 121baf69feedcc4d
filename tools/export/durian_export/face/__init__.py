"""MediaPipe's face models as ONNX, converted from TFLite without TensorFlow.

tflite.py   the flatbuffer reader        convert.py  op mapping + CLI (python -m durian_export.face.convert)
assets.py   sources, manifest, NOTICE    check.py    validation on real portraits (--check)
"""
