from setuptools import find_packages, setup

PACKAGE = "gr1_description"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=['numpy>=1.24', 'pyyaml>=6', 'mujoco==4.0.0'],
    python_requires=">=3.10",
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    description="GR1T2 robot model: canonical joint table, physics parameters, MuJoCo model assembly from the Fourier URDF.",
    license="Apache-2.0",
)
