package main

import "github.com/phalanx-eth/phalanx/cluster"

// clusterMember is one member row of `cluster status` and `cluster peers`.
type clusterMember = cluster.MemberStatus
