"""python -m durian_export.export — see export_onnx.py."""
from .export_onnx import main

if __name__ == "__main__":
    main()
