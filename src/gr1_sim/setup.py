from setuptools import find_packages, setup

PACKAGE = "gr1_sim"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=['gr1_description', 'numpy>=1.24', 'pyyaml>=6', 'mujoco==4.0.0'],
    python_requires=">=3.10",
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    description="MuJoCo scenes of the GR1 robot (table, objects, D435-like cameras), batched stepping and headless rendering.",
    license="Apache-2.0",
)
