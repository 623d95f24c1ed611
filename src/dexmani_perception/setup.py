from setuptools import find_packages, setup

PACKAGE = "dexmani_perception"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    # gr1_sim (MuJoCo) is for the evaluation and the simulator side (dexmani_perception.sim);
    # the core needs numpy, scipy and pyyaml only; rosbags gives ROS message classes without ROS
    # (message tests, offline bag tools).
    install_requires=['gr1_description', 'gr1_sim', 'numpy>=1.24', 'scipy>=1.10', 'pyyaml>=6', 'rosbags>=0.10'],
    python_requires=">=3.10",
    extras_require={
        "test": ["pytest"],
        # SAM2 without its CUDA extension and without torchvision being imported: install with
        #   SAM2_BUILD_CUDA=0 pip install --no-build-isolation -e 'src/dexmani_perception[sam2]'
        # next to an already installed torch (it does not pull another one).
        "sam2": ["sam2==1.1.0"],
    },
    entry_points={
        "console_scripts": [
            "perception_node = dexmani_perception.node:main",
        ],
    },
    zip_safe=True,
    description="Object perception: segmenters (SAM2, sim ground truth, classical), segmented depth, object centroid, depth noise.",
    license="Apache-2.0",
)
