from setuptools import find_packages, setup

PACKAGE = "dexmani_policy"

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
    description="Policy runtime: observation assembly, ONNX inference, action post-processing, the deployment contract and the policy node.",
    license="Apache-2.0",
)
