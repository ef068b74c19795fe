#include <stdio.h>

int main(int argc, char **argv)
{
    puts("prepix " PPX_VERSION);
    return 0;
}
