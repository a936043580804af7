// Package deploy checks the deployment files at the repository root (docker-compose.yml,
// Dockerfile). No Docker engine runs in CI, so a test loads the compose file with the
// compose-spec reference loader and checks its services, ports and dependencies.
package deploy
