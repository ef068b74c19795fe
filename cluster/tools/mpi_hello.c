/* mpi_hello: each rank prints "rank R of N on HOST", to check that a launcher (mpirun, srun
 * --mpi=pmix) really spreads ranks over the hosts of a cluster. Built by the slurm tests:
 *     mpicc -o mpi_hello cluster/tools/mpi_hello.c
 */
#include <mpi.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char host[MPI_MAX_PROCESSOR_NAME];
    int rank = 0, size = 0, len = 0;

    if (MPI_Init(&argc, &argv) != MPI_SUCCESS)
        return 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Get_processor_name(host, &len);
    printf("rank %d of %d on %s\n", rank, size, host);
    fflush(stdout);
    /* A barrier makes the program fail if the ranks cannot talk to each other, not just start. */
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Finalize();
    return 0;
}
