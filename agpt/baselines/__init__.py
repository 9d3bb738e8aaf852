"""Non-learned baselines (location priors, anatomy lookup) and the published MS-CXR results."""
