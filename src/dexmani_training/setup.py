from setuptools import find_packages, setup

PACKAGE = "dexmani_training"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "tests"]),
    package_data={PACKAGE: ["data/init/*.npz", "data/init/*.keys", "data/checkpoints/*.pt", "data/checkpoints/*.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + PACKAGE]),
        ("share/" + PACKAGE, ["package.xml"]),
    ],
    install_requires=['gr1_description', 'gr1_sim', 'dexmani_perception', 'numpy>=1.24', 'pyyaml>=6', 'imageio>=2.30', 'tqdm>=4.60', 'matplotlib>=3.7', 'torch', 'rsl-rl-lib>=5.5,<6', 'tensorboard>=2.15', 'rosbags>=0.10', 'scipy>=1.10', 'imageio-ffmpeg>=0.5'],
    python_requires=">=3.10",
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    description="Offline package: tasks, rewards, RL, task-aware init, autotune, distillation, export and the dexmani CLI.",
    license="Apache-2.0",
    entry_points={"console_scripts": ["dexmani = dexmani_training.cli:main", "excitation_player = dexmani_training.autotune.node:main"]},
)
