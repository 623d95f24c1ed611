from setuptools import find_packages, setup

PACKAGE = "gr1_driver"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=['gr1_description', 'gr1_sim', 'numpy>=1.24'],
    python_requires=">=3.10",
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    description="Hardware interface of the GR1 (sim and Fourier backends), the safety layer and the driver node.",
    license="Apache-2.0",
)
