"""Running the pipeline on a cluster: Argo/KFP submission, the KFP compiler, CI workflows."""
