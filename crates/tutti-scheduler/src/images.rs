//! Image names compared the way a user means them: `nginx`, `nginx:latest` and
//! `docker.io/library/nginx:latest` are one image (for image locality scoring).

/// The canonical form of an image reference: Docker Hub prefixes removed, `:latest` added when
/// neither a tag nor a digest is given.
pub fn normalize(image: &str) -> String {
    let short = image
        .strip_prefix("docker.io/library/")
        .or_else(|| image.strip_prefix("index.docker.io/library/"))
        .or_else(|| image.strip_prefix("docker.io/"))
        .or_else(|| image.strip_prefix("index.docker.io/"))
        .unwrap_or(image);
    let last = short.rsplit('/').next().unwrap_or(short);
    if short.contains('@') || last.contains(':') {
        short.to_string()
    } else {
        format!("{short}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn docker_hub_spellings_agree() {
        assert_eq!(normalize("nginx"), "nginx:latest");
        assert_eq!(normalize("docker.io/library/nginx:latest"), "nginx:latest");
        assert_eq!(normalize("docker.io/bitnami/redis:7"), "bitnami/redis:7");
        assert_eq!(
            normalize("registry:5000/team/app"),
            "registry:5000/team/app:latest"
        );
        assert_eq!(normalize("app@sha256:abc"), "app@sha256:abc");
    }
}
