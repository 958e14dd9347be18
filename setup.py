import re

from setuptools import find_packages, setup

# The version is stated once, in tfpix2pix/version.py.
VERSION = re.search(r'__version__ = "([^"]+)"', open("tfpix2pix/version.py").read()).group(1)

setup(
    name="tfpix2pix",
    version=VERSION,
    description="pix2pix (Isola et al., CVPR 2017) for TensorFlow 2 and Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfpix2pix", "tfpix2pix.*"]),
    # The demo's page (python -m tfpix2pix.demo), installed with the package.
    package_data={"tfpix2pix.demo": ["static/*.html", "static/*.js", "static/*.css"]},
    # TensorFlow is an extra so that CPU and GPU users each pick their wheel:
    # pip install "tfpix2pix[cpu]"  or  pip install "tfpix2pix[gpu]".
    install_requires=[
        "keras>=3.15,<4",
        "matplotlib>=3.8",  # evaluate's confusion-matrix heatmap (Agg canvas, no display)
        "numpy>=1.26",
        "pillow>=10",  # PIL images in and out of load(); the reference's JPEG decoder in tests
        "pyyaml>=6",
        "tensorboard>=2.21,<2.22",  # TF 2.21 no longer installs it; tf.summary needs it
    ],
    extras_require={
        "cpu": ["tensorflow-cpu>=2.21,<2.22"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        # Converting and checking exports; the ranges start at the versions verified together.
        "tflite": ["ai-edge-litert>=2.3,<3"],
        "onnx": ["tf2onnx>=1.17,<2", "onnx>=1.23,<2", "onnxruntime>=1.32,<2"],
        # python -m tfpix2pix.convert --from-pytorch: reads .pth files (a CPU build is enough).
        "pytorch": ["torch"],
        # selenium drives Debian's chromium in tests/test_demo_browser.py (.ci/run installs it).
        "test": ["pytest>=8", "pytest-xdist>=3.7", "selenium>=4.20,<5",
                 "ai-edge-litert>=2.3,<3",
                 "tf2onnx>=1.17,<2", "onnx>=1.23,<2", "onnxruntime>=1.32,<2"],
    },
    entry_points={"console_scripts": ["tfpix2pix-train=tfpix2pix.train:main_entry",
                                      "tfpix2pix-predict=tfpix2pix.predict:main_entry",
                                      "tfpix2pix-evaluate=tfpix2pix.evaluate:main_entry",
                                      "tfpix2pix-export=tfpix2pix.export.__main__:main_entry",
                                      "tfpix2pix-convert=tfpix2pix.convert.__main__:main_entry",
                                      "tfpix2pix-demo=tfpix2pix.demo.__main__:main_entry"]},
)
