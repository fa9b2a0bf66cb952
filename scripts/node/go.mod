module mini-pipeline/pause

go 1.22
