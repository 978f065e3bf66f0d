//! Image presence by pull policy (`ErrImageNeverPull`, `ErrImagePull`), and the sandbox's
//! own `tutti/pause` image, which is built locally by `scripts/images.sh`.

use std::time::Duration;

use bollard::Docker;
use bollard::models::ImageInspect;
use bollard::query_parameters::CreateImageOptions;
use futures::StreamExt;
use tracing::{info, warn};

use super::{engine_error, is_not_found};
use crate::{ImageInfo, PullPolicy, RuntimeError};

/// The sandbox image: a static binary that sleeps until SIGTERM (scripts/images/pause.c).
pub const PAUSE_IMAGE: &str = "tutti/pause:latest";

/// How long a pull may take before it counts as failed (no registry answers here).
const PULL_TIMEOUT: Duration = Duration::from_secs(15);

/// Make `image` present according to `policy`.
///
/// - `Never`: present or `ImageNeverPull`; never contacts a registry.
/// - `IfNotPresent`: present as is, else pull.
/// - `Always`: pull; if the pull fails but the image is present locally, use the local
///   image (logged as a warning) — our machines reach no registry, and manifests that name
///   `nginx` get `Always` by default.
///
/// A failed pull of an absent image is `ImagePull` with the engine's message.
pub(crate) async fn ensure(
    docker: &Docker,
    image: &str,
    policy: PullPolicy,
) -> Result<ImageInfo, RuntimeError> {
    let local = inspect(docker, image).await?;
    match (policy, local) {
        (PullPolicy::Never, Some(found)) | (PullPolicy::IfNotPresent, Some(found)) => {
            Ok(image_info(image, &found))
        }
        (PullPolicy::Never, None) => Err(RuntimeError::ImageNeverPull {
            image: image.to_string(),
        }),
        (PullPolicy::IfNotPresent, None) => {
            pull(docker, image).await?;
            present(docker, image).await
        }
        (PullPolicy::Always, local) => match (pull(docker, image).await, local) {
            (Ok(()), _) => present(docker, image).await,
            (Err(e), Some(found)) => {
                warn!(image, error = %e, "pull failed; using the local image");
                Ok(image_info(image, &found))
            }
            (Err(e), None) => Err(e),
        },
    }
}

/// Fail with instructions when the sandbox image has not been built.
pub(crate) async fn ensure_pause(docker: &Docker) -> Result<(), RuntimeError> {
    match inspect(docker, PAUSE_IMAGE).await? {
        Some(_) => Ok(()),
        None => Err(RuntimeError::StartFailed(format!(
            "the sandbox image {PAUSE_IMAGE} is missing from the Docker Engine: \
             build it with scripts/images.sh"
        ))),
    }
}

/// The image's configured user (`USER` in its Dockerfile), if any.
pub(crate) async fn configured_user(
    docker: &Docker,
    image: &str,
) -> Result<Option<String>, RuntimeError> {
    Ok(inspect(docker, image)
        .await?
        .and_then(|i| i.config)
        .and_then(|c| c.user)
        .filter(|u| !u.is_empty()))
}

async fn inspect(docker: &Docker, image: &str) -> Result<Option<ImageInspect>, RuntimeError> {
    match docker.inspect_image(image).await {
        Ok(found) => Ok(Some(found)),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(engine_error(image, e)),
    }
}

async fn present(docker: &Docker, image: &str) -> Result<ImageInfo, RuntimeError> {
    match inspect(docker, image).await? {
        Some(found) => Ok(image_info(image, &found)),
        None => Err(RuntimeError::ImagePull {
            image: image.to_string(),
            detail: "the pull finished but the image is still not present".to_string(),
        }),
    }
}

async fn pull(docker: &Docker, image: &str) -> Result<(), RuntimeError> {
    let reference = pull_reference(image);
    info!(image = %reference, "pulling image");
    let options = CreateImageOptions {
        from_image: Some(reference.clone()),
        ..Default::default()
    };
    let failed = |detail: String| RuntimeError::ImagePull {
        image: image.to_string(),
        detail,
    };
    let progress = async {
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            let item = item.map_err(|e| failed(engine_message(e)))?;
            if let Some(detail) = item.error_detail.and_then(|d| d.message) {
                return Err(failed(detail));
            }
        }
        Ok(())
    };
    match tokio::time::timeout(PULL_TIMEOUT, progress).await {
        Ok(done) => done,
        Err(_) => Err(failed(format!(
            "no answer from the registry within {PULL_TIMEOUT:?}"
        ))),
    }
}

/// The engine's own words, without bollard's wrapping.
fn engine_message(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message,
        other => other.to_string(),
    }
}

/// Pulling `nginx` without a tag would fetch every tag: name `latest` explicitly.
fn pull_reference(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if last.contains(':') || last.contains('@') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

/// `imageID` as Kubernetes showed it for Docker: the registry digest when the image came
/// from one, else the local content id.
fn image_info(image: &str, found: &ImageInspect) -> ImageInfo {
    let image_id = match found.repo_digests.as_ref().and_then(|d| d.first()) {
        Some(digest) => format!("docker-pullable://{digest}"),
        None => format!("docker://{}", found.id.clone().unwrap_or_default()),
    };
    ImageInfo {
        image: image.to_string(),
        image_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_references_pull_latest() {
        assert_eq!(pull_reference("nginx"), "nginx:latest");
        assert_eq!(pull_reference("nginx:1.25"), "nginx:1.25");
        assert_eq!(
            pull_reference("localhost:5000/app"),
            "localhost:5000/app:latest"
        );
        assert_eq!(pull_reference("busybox@sha256:abc"), "busybox@sha256:abc");
    }

    #[test]
    fn image_id_prefers_the_registry_digest() {
        let local = ImageInspect {
            id: Some("sha256:1".into()),
            ..Default::default()
        };
        assert_eq!(image_info("x", &local).image_id, "docker://sha256:1");
        let pulled = ImageInspect {
            id: Some("sha256:1".into()),
            repo_digests: Some(vec!["x@sha256:2".into()]),
            ..Default::default()
        };
        assert_eq!(
            image_info("x", &pulled).image_id,
            "docker-pullable://x@sha256:2"
        );
    }
}
