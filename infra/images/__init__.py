"""Application images built by the stack (`sparkstack:images`): the Dockerfile rendered from config, its content
tag, and the build (pulumi-docker-build), loaded into kind's nodes or pushed to a registry."""
