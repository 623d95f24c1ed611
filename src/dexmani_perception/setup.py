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
    install_requires=['gr1_description', 'numpy>=1.24'],
    python_requires=">=3.10",
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    description="Object perception: segmenters (SAM2, sim ground truth, classical), segmented depth, object centroid, depth noise.",
    license="Apache-2.0",
)
