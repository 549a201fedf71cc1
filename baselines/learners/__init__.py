"""Reference MARL learners (IPPO, MAPPO, VDN, QMIX), their shared parts and their checkpoints."""
