from setuptools import find_packages, setup

setup(
    name="tfpix2pix",
    version="0.1.0",
    description="pix2pix (Isola et al., CVPR 2017) for TensorFlow 2 and Keras 3",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfpix2pix", "tfpix2pix.*"]),
    # TensorFlow is an extra so that CPU and GPU users each pick their wheel:
    # pip install "tfpix2pix[cpu]"  or  pip install "tfpix2pix[gpu]".
    install_requires=[
        "keras>=3.15,<4",
        "numpy>=1.26",
        "pyyaml>=6",
        "tensorboard>=2.21,<2.22",  # TF 2.21 no longer installs it; tf.summary needs it
    ],
    extras_require={
        "cpu": ["tensorflow-cpu>=2.21,<2.22"],
        "gpu": ["tensorflow[and-cuda]>=2.21,<2.22"],
        # Converting and checking exports; the ranges start at the versions verified together.
        "tflite": ["ai-edge-litert>=2.3,<3"],
        "onnx": ["tf2onnx>=1.17,<2", "onnx>=1.23,<2", "onnxruntime>=1.32,<2"],
        "test": ["pytest>=8", "pytest-xdist>=3", "pillow",  # PIL: the reference's decoder
                 "ai-edge-litert>=2.3,<3",
                 "tf2onnx>=1.17,<2", "onnx>=1.23,<2", "onnxruntime>=1.32,<2"],
    },
    entry_points={"console_scripts": ["tfpix2pix-train=tfpix2pix.train:main_entry",
                                      "tfpix2pix-predict=tfpix2pix.predict:main_entry",
                                      "tfpix2pix-export=tfpix2pix.export.__main__:main_entry"]},
)
