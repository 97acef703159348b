// Kubernetes manifests for one IAK-PS job: the job spec as a ConfigMap, the
// scheduler as a Deployment behind a Service, the parameter servers as a
// StatefulSet (stable names ps-0, ps-1, ... = shard numbers) behind a
// headless Service, and the workers as an MPIJob (Kubeflow MPI operator), so
// `kubectl apply -f` starts the same processes the local launcher does.
#ifndef IAK_CLUSTER_KUBERNETES_MANIFESTS_H_
#define IAK_CLUSTER_KUBERNETES_MANIFESTS_H_

#include <string>

#include "proto/job_spec.pb.h"

namespace iak::cluster {

// Ports inside the pods.
inline constexpr int kSchedulerPort = 7000;
inline constexpr int kServerPort = 7001;

// Multi-document YAML. `job_spec_text` is the job spec as the pods read it.
std::string RenderKubernetesManifests(const proto::JobSpec& spec, const std::string& job_spec_text);

}  // namespace iak::cluster

#endif  // IAK_CLUSTER_KUBERNETES_MANIFESTS_H_
